"""The rules of the logging area (stage 13): hash-chained inference logs."""
