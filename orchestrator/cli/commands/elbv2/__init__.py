"""ELBv2's commands, `minecs elb ...`, mirroring `aws elbv2`."""
