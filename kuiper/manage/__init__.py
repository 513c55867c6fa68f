"""The service layer: streams, tables and rules managed for the REST API and the CLI."""
