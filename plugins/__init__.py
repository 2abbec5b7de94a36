"""Built-in calfrules plugins; each loads through the calfrules entry-point group."""
