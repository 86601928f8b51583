"""The composition root: settings, the MCPServer with its tools, the transports (stdio, streamable HTTP), the CLI."""
