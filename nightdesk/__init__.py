"""The entry points: what composes the crawl (spiders/) and the ETL (etl/). The `nightdesk` CLI
(cli.py, report_cli.py) and the pipeline steps the DAG and the CLI share (pipeline.py). Settings
are read here (contracts.settings.Settings.from_env) and passed down."""
