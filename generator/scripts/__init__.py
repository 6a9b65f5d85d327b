"""Standalone scripts that generated pipelines run in CodeBuild, shipped in the output folder.

Each is a single file that needs only the standard library and boto3, so that a build can run
it from the repository that holds it without installing pipegen.
"""
