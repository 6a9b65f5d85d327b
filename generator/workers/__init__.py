"""Standalone job workers shipped into generated pipelines (boto3 and the standard library only)."""
