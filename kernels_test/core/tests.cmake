# (core tests are added here)
