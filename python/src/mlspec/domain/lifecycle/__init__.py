"""The rules of the lifecycle area: stage reports (stages 1-11) and lineage."""
