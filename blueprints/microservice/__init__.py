"""microservice: container images to ECS (rolling, canary, linear blue/green) or EKS."""
