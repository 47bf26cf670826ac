"""The hand-landmark teacher and what it builds: labelled datasets from real photos."""
