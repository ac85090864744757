"""The rules of the monitoring area (stage 12): records, signals, alerts and rollback."""
