"""Detection: from a model input to Detections (the detector, its runtime, and the model-file contract)."""
