"""What the crawl (spiders/) and the ETL (etl/) agree on, in one place that imports neither.

schema (the Article and its value rules), layout (where raw, staging, lake and index files live),
settings (the one typed settings object, read at entry points), urls (URL identity), dates (the
one ISO 8601 parser) and fsutil (atomic folder swaps). Standard library and small pure libraries
only: both sides, the DAG file and the tests read it.
"""
