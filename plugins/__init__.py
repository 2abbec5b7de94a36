"""Built-in calfrules plugins; the host registers those named in calfrules.knowledge.builtin.BUILTIN_PLUGINS."""
