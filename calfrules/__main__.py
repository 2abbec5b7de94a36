from calfrules.cli import main

main()
