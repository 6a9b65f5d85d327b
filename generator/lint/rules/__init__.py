"""pipegen's guardrail rules: cfn-lint custom rules, one class per file, run by the lint gate.

The gate loads this folder the way `cfn-lint --append-rules generator/lint/rules` does (cfn-lint
imports each `[A-Za-z1-9]*.py` file and instantiates its rule classes), so the rules behave the
same from the command line. Ids are in cfn-lint's custom range:

  E900x IAM policies      E910x S3 buckets      E920x KMS keys
  E930x topics and logs   E940x CodeBuild       W950x/E950x Lambda

Shared code lives in `_helpers.py`, which cfn-lint does not scan for rules.
"""
