"""The generate step: realistic sales and youtube files, a share of them deliberately broken."""
