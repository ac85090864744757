"""The rules of the pipelines area (SPEC section 4): graphs, modules, step runs, submission."""
