"""Lambda sources that templates embed inline (each must stay under Lambda's 4 KB ZipFile limit)."""
