"""The command line: every command drives `core.engine.Engine`, like the GUI does."""
