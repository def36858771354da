"""The web server: FastAPI app factory, API routers, SSE stream, auth."""
