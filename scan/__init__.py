"""Security scan of the generated CloudFormation (checkov and parliament), run by `make scan`.

`scan.cfn` and `scan.allowlist` use only the standard library and PyYAML, so the main test suite
imports them too; `scan.run` needs the scan virtualenv (.venv-scan), where checkov and parliament
are installed.
"""
