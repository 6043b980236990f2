"""Servers that give other programs the library: the MCP server."""
