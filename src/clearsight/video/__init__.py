"""Stored video: decoding and sampling (decode), face tracks (tracking), the job runner (jobs), the
analyses (faces, search) and the Start*/Get* operations (service). Never imports the engine."""
