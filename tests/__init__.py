"""Tests of comic2pdf."""
