"""Screen and camera recording with live sealing, photos, and their capture.json."""
