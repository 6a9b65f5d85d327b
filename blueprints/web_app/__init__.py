"""web-app: EC2 Auto Scaling groups behind an ALB, deployed by CodeDeploy."""
