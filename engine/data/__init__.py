"""Images in: discover a dataset folder, decode and check files, de-identify, pixels, splits."""
