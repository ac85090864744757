"""Who may call the service: workspaces, bearer tokens and their roles."""
