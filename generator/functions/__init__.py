"""Lambda sources that templates embed inline (`Code.ZipFile`, shipped as index.py); each stays
under `lambda_function.INLINE_SOURCE_LIMIT` so that it can be reviewed in the template diff."""
