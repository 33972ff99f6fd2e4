"""Applications on real data: each a data pipeline, a model from models/, and a report."""
