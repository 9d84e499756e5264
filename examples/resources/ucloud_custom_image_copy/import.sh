# A copy in another region of the provider's project:
terraform import ucloud_custom_image_copy.shanghai cn-sh2/uimage-abcd1234

# A copy in another project and region:
terraform import ucloud_custom_image_copy.team_b org-team-b/cn-bj2/uimage-efgh5678
