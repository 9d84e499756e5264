# Import once in cn-bj2, then copy into other regions and projects.
resource "ucloud_custom_image" "centos" {
  name      = "centos-7-golden"
  ufile_url = "https://my-bucket.cn-bj.ufileos.com/images/centos-7.qcow2"
  format    = "qcow2"
  os_type   = "CentOS"
  os_name   = "CentOS 7.6 64位"
}

# The same image in cn-sh2, same project.
resource "ucloud_custom_image_copy" "shanghai" {
  source_image_id = ucloud_custom_image.centos.id
  source_region   = "cn-bj2"
  region          = "cn-sh2"

  # A replacement copy is made before the old one is deleted, so hosts
  # launched from it never lose their image.
  lifecycle {
    create_before_destroy = true
  }
}

# The same image in another project of the same region, under its own name.
resource "ucloud_custom_image_copy" "team_b" {
  source_image_id = ucloud_custom_image.centos.id
  project_id      = "org-team-b"
  source_region   = "cn-bj2"
  region          = "cn-bj2"
  name            = "centos-7-golden-team-b"
  tag             = "golden"

  timeouts {
    create = "90m"
  }

  lifecycle {
    create_before_destroy = true
  }
}
