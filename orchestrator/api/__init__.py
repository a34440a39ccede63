"""The ECS wire protocol: the HTTP server (``server``), one handler per operation (``handlers``), the
wire shapes (``shapes``), parameter reading (``params``) and the client the CLI and agents use (``client``)."""
