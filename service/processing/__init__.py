"""The event processor: stored raw events -> classified call outcomes."""
