"""The Rekognition-compatible HTTP service (AWS JSON 1.1 over ASGI)."""
