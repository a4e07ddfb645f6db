"""Live cameras: Rekognition's stream processors over the operator's own cameras (docs/streams.md)."""
