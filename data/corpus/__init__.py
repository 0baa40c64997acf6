"""The pieces of data/build-corpus: fetching packages, captions from names and dictionaries,
rendering SVG, and the splits. Standard library only, plus PyGObject's librsvg for rendering."""
