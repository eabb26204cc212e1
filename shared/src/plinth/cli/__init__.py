"""The plinth command line: every image stage in-process, no servers."""
