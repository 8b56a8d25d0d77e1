#!/bin/bash
#SBATCH --job-name="a \"quoted\" name #1 with 'single' and back\\slash %x"
#SBATCH --comment="a b#c"
#SBATCH --hold
true
