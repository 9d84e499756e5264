# An image in the provider's region and project:
terraform import ucloud_custom_image.centos uimage-abcd1234

# An image in another region of the provider's project:
terraform import ucloud_custom_image.centos cn-sh2/uimage-abcd1234

# An image in another project and region:
terraform import ucloud_custom_image.centos org-example/cn-sh2/uimage-abcd1234
