"""One module per resource; each command reads options, calls the API client, renders the answer."""
