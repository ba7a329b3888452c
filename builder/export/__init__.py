"""Export: Parquet shards, the `datasets` folder, trainer formats, the card and report, and publishing."""
