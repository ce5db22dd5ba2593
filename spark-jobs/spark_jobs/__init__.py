"""ccmix Spark jobs: small PySpark CLIs for the GPT-3 training-data pipeline."""
