"""Fine-tuning a Standpoint model from a YAML config."""
