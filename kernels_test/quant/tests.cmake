# (quant tests are added here)
