"""Use cases behind the API, one module per resource. They compose validation, the store and (in later
layers) the scheduler; they know nothing about HTTP or JSON wire shapes."""
