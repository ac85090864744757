"""Importers and exporters between MLSpec and the systems it learned from."""
