"""Training: YOLO11 runs tracked in MLflow, evaluation on the test split, exports."""
