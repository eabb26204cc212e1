"""Segmentation quality benchmark: synthetic studio photos with exact alpha, and an evaluator."""
